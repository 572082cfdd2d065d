"""The Message Batches API: a durable queue of Messages requests, processed in the
background on the live engines (see :mod:`.runner`)."""
