"""Column names of a prediction table (``predictions.csv``, a served response); no heavy imports (``--help``)."""

PATH, EMOTION, ERROR = "path", "emotion", "error"
#: Which statistics normalised a row before the model's z-score: ``training``, ``corpus`` or ``speaker``
#: (the clips predicted together, or each speaker's among them; see :meth:`ModelBundle.normalize`).
STATISTICS = "statistics"
