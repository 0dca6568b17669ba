"""Every route with an <int:...> id answers 404, never 500, for ids the database cannot hold."""

import re

import pytest

from cara.web.helpers import DatabaseId

TOO_BIG = [2**31, 2**63, 10**30]
PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _url(rule, id_value) -> str:
    """The rule's path with `id_value` for every int argument, a valid value for the others."""

    def value(match: re.Match) -> str:
        converter, args, name = match.groups()
        if converter == "int":
            return str(id_value)
        if converter == "any":  # e.g. any(approve, deny)
            return args.split(",")[0].strip().strip("'\"")
        return "ana" if name == "username" else "x"

    return PARAM.sub(value, rule.rule)


def _int_rules(app):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, DatabaseId) for c in rule._converters.values())
    ]


def test_the_int_converter_is_the_bounded_one(app):
    rules = _int_rules(app)
    assert len(rules) >= 30  # every id route (the walk below is not vacuous)
    plain = [r.rule for r in app.url_map.iter_rules() if "<int:" in r.rule and r not in rules]
    assert not plain


@pytest.mark.parametrize("id_value", TOO_BIG + [2**63 - 1])
def test_out_of_range_ids_are_404(app, client, auth, make_user, id_value):
    """Logged in as an admin, so no login or role check answers first."""
    make_user("ana", role="admin")
    auth.login()
    answers = {}
    for rule in _int_rules(app):
        url = _url(rule, id_value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answers[f"{method} {url}"] = client.open(url, method=method).status_code
    assert len(answers) >= 35  # each method of each rule
    wrong = {request: status for request, status in answers.items() if status != 404}
    assert not wrong, wrong
