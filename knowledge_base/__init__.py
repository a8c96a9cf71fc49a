"""Knowledge base: articles, the multilingual search index and import."""
