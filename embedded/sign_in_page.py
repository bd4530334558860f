"""The dev issuer's sign-in page and its refusal page: plain HTML forms in Danish with English alongside.

No script and no inline style (the web app's Content-Security-Policy applies to them too); a plain form
posts the choice, so it works without JavaScript. Every value from the request is escaped.
"""

from __future__ import annotations

from html import escape

from embedded.oidc import DEFAULT_ORGANISATION, SIGN_IN_ORGANISATIONS, SIGN_IN_ROLES, AuthorizationRequest
from functions.shared.principal import Role

STYLESHEET_PATH = "/oauth2/sign-in.css"
# Dark text on white, a visible focus ring, larger hit areas: WCAG 2.1 AA.
STYLESHEET = """\
body { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; line-height: 1.5; }
main { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
fieldset { border: 1px solid #595959; border-radius: 4px; margin: 0 0 1.5rem; padding: 0.5rem 1rem 1rem; }
legend { font-weight: 600; padding: 0 0.25rem; }
.choice { display: flex; gap: 0.5rem; align-items: baseline; padding: 0.25rem 0; }
input[type=radio] { flex: none; width: 1.1rem; height: 1.1rem; }
button { font: inherit; font-weight: 600; color: #fff; background: #0b4f8a; border: 0; border-radius: 4px;
  padding: 0.6rem 1.4rem; cursor: pointer; }
:focus-visible { outline: 3px solid #b35900; outline-offset: 2px; }
.en { color: #404040; }
code { font-size: 0.95em; }
"""

_ROLE_NAMES = {Role.CLINICIAN: ("Kliniker", "clinician"), Role.LOGISTICS: ("Logistik", "logistics")}


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def _choice(name: str, value: str, danish: str, english: str, checked: bool, detail: str = "") -> str:
    field_id = f"{name}-{value}"
    return (f'<div class="choice"><input type="radio" id="{escape(field_id)}" name="{name}" '
            f'value="{escape(value)}"{" checked" if checked else ""} required>'
            f'<label for="{escape(field_id)}">{escape(danish)} <span class="en" lang="en">({escape(english)})'
            f'</span>{detail}</label></div>')


def sign_in_page(request: AuthorizationRequest) -> str:
    """The form: the request's parameters hidden, a role and an organisation to choose, one button."""
    hidden = "\n".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
                       for name, value in request.hidden_fields())
    roles = "\n".join(_choice("role", role.value, *_ROLE_NAMES[role], checked=index == 0)
                      for index, role in enumerate(SIGN_IN_ROLES))
    organisations = "\n".join(
        _choice("organisation", offered.code, offered.danish, offered.english,
                checked=offered.code == DEFAULT_ORGANISATION, detail=f", <code>{escape(offered.code)}</code>")
        for offered in SIGN_IN_ORGANISATIONS)
    return _page("Log ind – Telehub", f"""<h1>Log ind i Telehub
<span class="en" lang="en">(Sign in to Telehub)</span></h1>
<p>Den indlejrede tilstands udviklingsudsteder: ingen adgangskode, vælg hvem du er.
<span class="en" lang="en">The embedded mode's dev issuer: no password, choose who you are.</span></p>
<form method="post" action="/oauth2/authorize">
{hidden}
<fieldset>
<legend>Rolle <span class="en" lang="en">(role)</span></legend>
{roles}
</fieldset>
<fieldset>
<legend>Organisation <span class="en" lang="en">(organisation)</span></legend>
{organisations}
</fieldset>
<button type="submit">Log ind <span lang="en">(Sign in)</span></button>
</form>""")


def refusal_page(field: str, detail: str) -> str:
    """Why a sign-in request cannot be used, naming the parameter: nothing was redirected."""
    return _page("Login-anmodningen kan ikke bruges – Telehub", f"""<h1>Login-anmodningen kan ikke bruges
<span class="en" lang="en">(The sign-in request cannot be used)</span></h1>
<p lang="en"><code>{escape(field)}</code> {escape(detail)}.</p>
<p>Åbn webappen igen fra dens adresse.
<span class="en" lang="en">Open the web app again from its address.</span></p>""")
