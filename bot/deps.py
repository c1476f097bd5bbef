"""What every listener and the notifier need, built once per process from the Runtime."""
from __future__ import annotations

from dataclasses import dataclass

from .approvals import Approvals
from .dispatch import Dispatcher
from .home import Home
from .identity import SlackIdentity
from .pacer import Poster, web_client


@dataclass
class BotDeps:
    runtime: object
    service: object
    client: object
    poster: Poster
    identity: SlackIdentity
    dispatcher: Dispatcher
    approvals: Approvals
    home: Home

    @classmethod
    def build(cls, runtime) -> "BotDeps":
        service = runtime.service()
        client = web_client(runtime.config)
        poster = Poster(client, runtime.redis)
        return cls(runtime=runtime, service=service, client=client, poster=poster,
                   identity=SlackIdentity(client, runtime.redis, service), dispatcher=Dispatcher(service),
                   approvals=Approvals(service, poster, runtime.config),
                   home=Home(service, client, runtime.redis))
