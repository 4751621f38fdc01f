"""Reading a ``/metrics`` answer the way Prometheus does (the client library's own parser)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape: (sample name, sorted labels) -> value."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    @classmethod
    def parse(cls, exposition: str) -> Scrape:
        return cls(
            {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(exposition)
                for sample in family.samples
            }
        )

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and wanted <= set(sample_labels)
        )

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value ``label`` takes among ``name``'s samples."""
        return {
            dict(labels)[label]
            for (sample, labels), _ in self.samples.items()
            if sample == name and label in dict(labels)
        }

    def has(self, name: str) -> bool:
        return any(sample == name for sample, _ in self.samples)


async def scrape(client: httpx.AsyncClient, url: str, *, token: str | None = None) -> Scrape:
    """GET ``url`` (a ``/metrics``), which must answer 200 in Prometheus' text format."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/plain"), response.headers["content-type"]
    return Scrape.parse(response.text)
