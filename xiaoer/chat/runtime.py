"""PLACEHOLDER — started/stopped by asgi lifespan: writer + hub."""


async def startup() -> None:
    return None


async def shutdown() -> None:
    return None
