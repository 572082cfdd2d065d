"""The legacy Text Completions API (``POST /v1/complete``), served by translation: the
``\\n\\nHuman:``/``\\n\\nAssistant:`` prompt becomes a Messages conversation, runs through the
same generation pipeline, and the message event stream becomes ``completion`` events."""
