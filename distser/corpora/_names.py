"""The registered corpora's names, in the registry's order, without importing a loader (or pandas).

``--help`` lists them; :data:`distser.corpora.CORPORA` is built in this order and checks it on import.
"""

CORPUS_NAMES = ("ravdess", "tess", "savee", "emodb", "librispeech", "crema-d", "iemocap", "msp-improv",
                "msp-podcast", "csv")
