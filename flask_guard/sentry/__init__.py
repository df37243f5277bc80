"""Sentry: starting or joining the SDK, building one event per error under the client's
error id, and accounting for every event that was not delivered."""
