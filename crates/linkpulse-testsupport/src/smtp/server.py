# A real SMTP server for the email alert tests: aiosmtpd with STARTTLS (or implicit TLS)
# using the test CA's certificate, AUTH required (PLAIN/LOGIN against one user), every mail
# written to OUTDIR as NNNN.eml with its envelope in NNNN.json. Prints its port, then serves
# until killed.
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult

cert, key, user, password, outdir, mode = sys.argv[1:7]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".eml")])
        base = os.path.join(outdir, f"{n:04}")
        with open(base + ".json.tmp", "w") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "authenticated": bool(session.authenticated),
                    "tls": getattr(server, "_tls_protocol", None) is not None
                    or server.transport.get_extra_info("sslcontext") is not None,
                },
                f,
            )
        os.rename(base + ".json.tmp", base + ".json")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK queued as linkpulse-test"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == user.encode() and auth_data.password == password.encode()
    return AuthResult(success=ok)


async def main():
    loop = asyncio.get_running_loop()
    if mode == "starttls":
        def factory():
            return SMTP(Handler(), tls_context=ctx, require_starttls=True,
                        auth_require_tls=True, auth_required=True,
                        authenticator=authenticate, hostname="localhost")
        server = await loop.create_server(factory, "127.0.0.1", 0)
    else:
        def factory():
            return SMTP(Handler(), auth_required=True, auth_require_tls=False,
                        authenticator=authenticate, hostname="localhost")
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
