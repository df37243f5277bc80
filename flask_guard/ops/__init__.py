"""Operations: the health endpoint, Prometheus metrics, the ``flask guard`` CLI, and the
routes the guard adds to an app."""
