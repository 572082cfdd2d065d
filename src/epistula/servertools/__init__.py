"""Server tools: the tools the API runs itself (web fetch, web search, code execution)."""
