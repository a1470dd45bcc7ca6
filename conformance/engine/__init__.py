"""The runner: replays scenarios against a target and emits events; it never imports reporting."""
