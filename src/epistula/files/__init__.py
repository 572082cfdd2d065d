"""The Files API (beta): uploads stored durably and usable as documents in Messages."""
