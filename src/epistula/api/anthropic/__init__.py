"""The Anthropic API proper: Messages, Models, Message Batches and Files."""
