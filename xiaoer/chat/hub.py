"""PLACEHOLDER — the chat-core helper replaces this with the in-process/Redis hub."""


def hub_health() -> str:
    return "ok"
