"""The served models: configuration -> engine (:mod:`.loader`), GGUF files shipped in
packages (:mod:`.files`) and the catalog that resolves ids and aliases (:mod:`.catalog`)."""
