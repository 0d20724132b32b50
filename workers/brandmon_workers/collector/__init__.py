"""The collectors: what reads each source kind and emits what is new into Kafka.

A polled source (Instagram through instaloader, news feeds, Mastodon, Reddit, or a replay
of recorded posts) is one CronJob run: the source yields profiles, posts and their
images; the run uploads images to S3 (content-addressed), sends Profile, Post and Media
messages to the monitor's topics, and remembers in S3 which posts Kafka acknowledged, so
the next run sends only what is new. Each run reports its numbers as the container's
termination message, which the operator shows as the source's health. A streaming source
(Bluesky) is one long-running process that follows the Jetstream firehose instead
(`bluesky_stream`).

Modules: `items` (what sources yield, message building, media helpers), the sources
`instagram`, `replay`, `feeds` (RSS/Atom), `mastodon`, `reddit` and `bluesky` (pure:
events, matching, cursors) with `bluesky_stream` (its process), `http` (the polled
sources' HTTP: size caps, platform-paced retries), `markup` (HTML to text), `backoff`
(bounded retries), `session` (Instagram sessions), `state` (what was already sent),
`delivery` (Kafka acknowledgements per post), `run` (the run itself and its entry point).
"""
