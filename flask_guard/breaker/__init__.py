"""Circuit breakers: the breaker, its policy, its states and statistics, and the per-app
registry. Where state lives is :mod:`flask_guard.storage`'s concern."""
