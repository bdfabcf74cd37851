"""Security headers on every page (docs/operations.md "Security settings").

A Content-Security-Policy on HTML responses: scripts only from this site's own files (no inline
script, no eval — the templates bind their handlers in static files), styles from this site
(inline style attributes allowed: htmx and the meters use them), images from this site or
data:/blob: (previews of an image being sent), sockets and fetches to this site only, and no
framing except for pages marked embeddable (the shopper chat), which the sites in EMBED_ORIGINS
may frame.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_BASE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; media-src 'self' blob:; "
                "object-src 'none'; base-uri 'self'; form-action 'self'")


def frame_ancestors(embeddable: bool) -> str:
    if not embeddable:
        return "frame-ancestors 'none'"
    return " ".join(["frame-ancestors 'self'", *settings.EMBED_ORIGINS])


def content_security_policy(embeddable: bool) -> str:
    return f"{_BASE_POLICY}; {frame_ancestors(embeddable)}"


class ContentSecurityPolicyMiddleware:
    """Adds the policy to HTML responses that have none. A view marks a page the widget may embed
    with ``response.xframe_options_exempt = True`` (Django's own flag, which also drops
    X-Frame-Options: that header cannot name several sites)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not settings.CONTENT_SECURITY_POLICY or "Content-Security-Policy" in response:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        response["Content-Security-Policy"] = content_security_policy(
            bool(getattr(response, "xframe_options_exempt", False)))
        return response
