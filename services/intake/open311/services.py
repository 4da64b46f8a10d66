"""GET services and services/{code}: the taxonomy's categories as GeoReport v2 services."""

from hotline.contracts import RequestType
from hotline.deadlines import ClockKind, DeadlinePolicy, default_policy
from hotline.intake.open311.errors import Open311Error
from hotline.taxonomy import Category, Taxonomy

REQUEST_TYPE_NAMES = {
    RequestType.CONSULTATION: "咨询 Consultation",
    RequestType.HELP: "求助 Help",
    RequestType.COMPLAINT: "投诉 Complaint",
    RequestType.REPORT: "举报 Report",
    RequestType.SUGGESTION: "建议 Suggestion",
    RequestType.PRAISE: "表扬 Praise",
}

# The taxonomy has no groups yet; a category missing here falls back on its utility flag.
_GROUPS = {
    "公用事业 Utilities": ("water_supply", "heating", "power", "gas", "drainage"),
    "城市环境 City environment": (
        "noise", "sanitation", "environment_pollution", "parks_greenery", "construction",
    ),
    "交通出行 Transport": ("roads_traffic", "public_transport", "parking"),
    "住房物业 Housing": ("property_management", "housing_certificates"),
    "民生服务 Public services": ("education", "wages_social_security", "elderly_care", "medical_health"),
    "市场与秩序 Markets and public order": ("market_consumer", "public_order"),
    "其他 Other": ("other",),
}
GROUP_OF = {code: group for group, codes in _GROUPS.items() for code in codes}


def service_name(category: Category) -> str:
    """Chinese name, then English: 供水 Water supply."""
    return f"{category.zh} {category.en}"


def _period(urgency: str, policy: DeadlinePolicy) -> tuple[str, str]:
    """The report-back period of an urgency class, as the deadline policy states it."""
    spans = policy.clocks[ClockKind.REPORT_BACK]
    return (spans.get(urgency) or spans["general"]).label()


def service_entry(category: Category, taxonomy: Taxonomy, policy: DeadlinePolicy | None = None) -> dict:
    """One service of the GeoReport service list."""
    policy = policy or default_policy()
    usual_zh, usual_en = _period(taxonomy.urgency("", category.code).code, policy)
    zh = f"{category.zh}方面的诉求，{usual_zh}内答复"
    en = f"Requests about {category.en.lower()}; report back within {usual_en}"
    emergency = taxonomy.urgency_classes.get("emergency")
    if emergency is not None:
        urgent_zh, urgent_en = _period(emergency.code, policy)
        zh += f"（危及生命财产时{urgent_zh}）"
        en += f" ({urgent_en} when life or property is at risk)"
    description = f"{zh}。{en}."
    keywords = dict.fromkeys((*category.aliases, *category.keywords_zh, *category.keywords_en))
    return {
        "service_code": category.code,
        "service_name": service_name(category),
        "description": description,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": GROUP_OF.get(
            category.code, "公用事业 Utilities" if category.utility else "其他 Other"
        ),
    }


def service_list(taxonomy: Taxonomy) -> list[dict]:
    """GET services: every category of the taxonomy, in its order."""
    return [service_entry(c, taxonomy) for c in taxonomy.categories.values()]


def service_definition(service_code: str, taxonomy: Taxonomy) -> dict:
    """GET services/{code}: the attributes a request of this service may carry."""
    if service_code not in taxonomy.categories:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": True,
                "code": "community",
                "datatype": "string",
                "required": False,
                "datatype_description": "社区、小区或楼栋名称，如 云景台小区 "
                "(name of the community, estate or building)",
                "order": 1,
                "description": "社区或楼栋 Community (社区) or building",
                "values": [],
            },
            {
                "variable": True,
                "code": "request_type",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "不填时按内容判断 (inferred from the description when absent)",
                "order": 2,
                "description": "诉求类型 Kind of request",
                "values": [
                    {"key": t.value, "name": REQUEST_TYPE_NAMES.get(t, t.value)} for t in RequestType
                ],
            },
            {
                "variable": True,
                "code": "anonymous",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 3,
                "description": "是否匿名 Ask not to be identified to the handling unit",
                "values": [
                    {"key": "false", "name": "实名 Named"},
                    {"key": "true", "name": "匿名 Anonymous"},
                ],
            },
        ],
    }
