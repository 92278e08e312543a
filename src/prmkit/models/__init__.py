"""Model helpers: tiny models built from config, loading SmolLM2 from its GGUF."""
