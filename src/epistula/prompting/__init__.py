"""Anthropic request -> engine prompt (one way only).

* :mod:`.render` flattens system, messages and tools into the chat template's variables.
* :mod:`.template` and :mod:`.builtin_templates` compile the model's chat template.
* :mod:`.tools` and :mod:`.builtin_tools` describe tools to the model.
* :mod:`.breakpoints` finds a request's ``cache_control`` breakpoints in the API's order
  (tools -> system -> messages); :mod:`.prefixes` turns them into token offsets of the
  rendered prompt, which the engine's prefix store then reads and writes.
"""
