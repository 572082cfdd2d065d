"""The served models: configuration -> engine (:mod:`.loader`), GGUF files shipped in
packages (:mod:`.files`) and the catalog that resolves ids and aliases (:mod:`.catalog`).
Models on disk (:mod:`.store`): references (:mod:`.refs`), Hugging Face's cache and hub
(:mod:`.hub`, downloads in :mod:`.download`), Ollama's store (:mod:`.ollama`), and GGUF
headers (:mod:`.gguf_meta`)."""
