"""What counts as a secret, and the scrubber that removes secrets from everything the guard
sends or logs."""
