"""The operations console at ``/console``: server-rendered pages for the people who run
the gateway (sessions in ``sessions``, pages in ``pages``, SVG charts in ``charts``;
templates and the stylesheet ship as package data)."""

from gateway.http.console.pages import routes

__all__ = ["routes"]
