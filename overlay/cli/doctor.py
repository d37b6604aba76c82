"""`overlay doctor`: which model answers, and how to connect a better one."""

from __future__ import annotations

import typer

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.doctor import KNOWN_SERVERS, chat_model_finding, find_local_servers


@app.command()
def doctor(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Say which chat model answers, and find a local OpenAI-compatible server (vLLM on
    8000, Ollama on 11434, LM Studio on 1234, llama.cpp on 8080) with the settings that
    connect it.

    JSON: `{chat_model, servers: [{name, base_url, models, config}]}`.
    """
    settings = state(ctx).settings()
    servers = find_local_servers()
    if json_output:
        print_json(
            {
                "chat_model": chat_model_finding(settings.llm),
                "servers": [
                    {
                        "name": s.name,
                        "base_url": s.base_url,
                        "models": list(s.models),
                        "config": s.config_lines(),
                    }
                    for s in servers
                ],
            }
        )
        return
    console.print(chat_model_finding(settings.llm), highlight=False)
    if not servers:
        ports = ", ".join(f"{name} {port}" for name, port in KNOWN_SERVERS)
        console.print(f"no local OpenAI-compatible server found (tried {ports})", highlight=False)
        return
    for server in servers:
        console.print(
            f"\n{server.name} at {server.base_url} serves: {', '.join(server.models) or '?'}\n"
            "to answer with it, put this in your config file (`overlay config show` names it):",
            highlight=False,
        )
        console.print("\n".join(server.config_lines()), markup=False, highlight=False)
