"""The collector: one CronJob run reads one source and emits what is new into Kafka.

A source (Instagram through instaloader, or a replay of recorded posts) yields profiles,
posts and their images; the run uploads images to S3 (content-addressed), sends Profile,
Post and Media messages to the monitor's topics, and remembers in S3 which posts Kafka
acknowledged, so the next run sends only what is new. Each run reports its numbers as the
container's termination message, which the operator shows as the source's health.

Modules: `items` (what sources yield, message building, media helpers), `replay` and
`instagram` (the sources), `backoff` (bounded retries), `session` (Instagram sessions),
`state` (what was already sent), `delivery` (Kafka acknowledgements per post), `run` (the
run itself and its entry point).
"""
