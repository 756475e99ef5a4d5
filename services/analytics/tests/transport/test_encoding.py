"""Every domain's figures build their typed message on the fast path (protobuf's constructors)
exactly as ParseDict builds it; figures the message cannot hold still fail loudly."""

from __future__ import annotations

import pytest
from analytics_testing import seed
from google.protobuf.json_format import ParseDict, ParseError
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.domains import DASHBOARDS
from lectern_analytics.transport.encoding import built_message, figures_to_message
from lectern_analytics.transport.grpc import _DOMAIN_MESSAGES


async def test_every_domain_builds_the_message_parse_dict_builds(app: AnalyticsApp) -> None:
    known = await seed(app)
    checked = set()
    for dashboard in DASHBOARDS:
        for course_id in (None, known.c1):
            result = await app.dashboards.get_dashboard(known.owner, known.request(dashboard, course_id))
            for name, figures in result.domains.items():
                message_type = _DOMAIN_MESSAGES[name][1]
                built = built_message(figures, message_type)
                assert built == ParseDict(figures, message_type()), name
                assert built.ByteSize() > 0
                checked.add(name)
    assert checked == set(_DOMAIN_MESSAGES)


def test_figures_the_message_cannot_hold_fail_as_parse_dict_fails() -> None:
    with pytest.raises(ParseError):
        figures_to_message({"totalSales": 1, "noSuchField": 2}, pb.SalesDomain)
    with pytest.raises(ParseError):
        figures_to_message({"totalSales": "many"}, pb.SalesDomain)
    # A value JSON allows but the constructor does not (an integral float for an int64) still goes.
    assert figures_to_message({"totalSales": 3.0}, pb.SalesDomain) == pb.SalesDomain(total_sales=3)
