"""Live events: one watcher per viewed round per process, fanned out to server-sent-event streams."""
