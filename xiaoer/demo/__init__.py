"""The demo shop (``xiaoer demo``): site level, above every app, so it may seed them all
(docs/design.md "Layers")."""
