"""The parts of the end-to-end benchmark that bench/lifecycle_bench.py (`make bench`) runs.

`limit`: the no-op FastStream relay beside the raw-Kafka limit; `driver`: the handling units and the
callback centre the bench plays; `ranking_watch`: when the rankings show each dispatch and callback;
`hops`: each hop's latency from the records' timestamps; `phases`: the offered load and the
saturation, on an empty store or after a history; `metrics_phases`: the rebuild and the busy month;
`report`: the aims, the ratios and the tables; `timing`: clocks and waits.
"""
