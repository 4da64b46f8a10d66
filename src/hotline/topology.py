"""The deployment's topics: the services' shared topics and one queue per unit of its catalogue.

`hotline topics ensure` creates these; the bench and the tests make the same set under their own
prefix. A module of its own because it sits between two others and belongs in neither:
`contracts.topics` names the topics and their partitions, the wire contract every service and the
AsyncAPI document import, and must stay free of deployment data (the catalogue file, the places);
`runtime.topic_admin` is the Kafka admin client that makes a given list of topics real, and knows
nothing of units. The list itself needs the catalogue and the gazetteer, so it lives here.
"""

from hotline.catalogue import queue_codes
from hotline.city import deployment_catalogue
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.runtime.settings import ServiceSettings


def all_topic_specs(prefix: str = "", *, settings: ServiceSettings | None = None) -> list[topics.TopicSpec]:
    """Every topic: the shared ones and one queue per unit: streets and towns, district
    fallbacks, departments, enterprises and triage (the catalogue `settings` name, from the
    environment when not given)."""
    catalogue = deployment_catalogue(settings or ServiceSettings())
    specs = topics.core_topics() + topics.queue_topics(queue_codes(catalogue, beijing()))
    return [s.prefixed(prefix) for s in specs]
