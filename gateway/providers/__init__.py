"""Provider types: one module per type (`anthropic.py`, `openai.py`, `gemini.py`, `azure_openai.py`,
`bedrock.py`, `vertex.py`; `presets.py` holds the OpenAI-compatible presets as data), each one
`base.ProviderType` object, found by name in `registry.py`. `credentials.py` signs Bedrock calls and
mints Vertex and Entra ID tokens."""
