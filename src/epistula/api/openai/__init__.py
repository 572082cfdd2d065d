"""The OpenAI-compatible ``POST /v1/chat/completions``, as translation modules: an OpenAI
request becomes our ``MessageCreateParams`` (:mod:`.request`), our event stream becomes
``chat.completion.chunk`` objects (:mod:`.chunks`) or, folded, one ``chat.completion``
(:mod:`.response`), and errors take OpenAI's shape (:mod:`.errors`)."""
