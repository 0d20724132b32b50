CREATE TABLE IF NOT EXISTS BM_3C55F12776806BFC_PROFILES (
  `username_key` STRING PRIMARY KEY,
  `schema_version` BIGINT,
  `username` STRING,
  `user_id` STRING,
  `full_name` STRING,
  `biography` STRING,
  `external_url` STRING,
  `followers` BIGINT,
  `following` BIGINT,
  `post_count` BIGINT,
  `is_verified` BOOLEAN,
  `is_private` BOOLEAN,
  `provenance` STRUCT<`source` STRING, `collected_at` STRING, `collector_version` STRING>
) WITH (KAFKA_TOPIC='brandmon.brands.acme.profiles', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');

CREATE STREAM IF NOT EXISTS BM_3C55F12776806BFC_TEXT_SCORES (
  `post_key` STRING KEY,
  `schema_version` BIGINT,
  `post_id` STRING,
  `username` STRING,
  `score` DOUBLE,
  `keyword_score` DOUBLE,
  `negativity` DOUBLE,
  `toxicity` DOUBLE,
  `sentiment_compound` DOUBLE,
  `keyword_hits` ARRAY<STRUCT<`term` STRING, `weight` DOUBLE, `count` BIGINT>>,
  `keywords` ARRAY<STRING>,
  `risk_score` DOUBLE,
  `risk_categories` ARRAY<STRUCT<`category` STRING, `label` STRING, `score` DOUBLE, `strong` BOOLEAN, `evidence` ARRAY<STRING>>>,
  `learned_risk` DOUBLE,
  `language` STRING,
  `media_count` BIGINT,
  `post` STRUCT<`platform` STRING, `url` STRING, `excerpt` STRING, `author_followers` BIGINT, `likes` BIGINT, `comments` BIGINT, `posted_at` STRING>,
  `severity` STRING,
  `analyzer_version` STRING,
  `scored_at` STRING
) WITH (KAFKA_TOPIC='brandmon.brands.acme.text-scores', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');

CREATE TABLE IF NOT EXISTS BM_3C55F12776806BFC_TEXT_RISK WITH (KAFKA_TOPIC='brandmon.brands.acme.ksql.text-risk', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT
  `post_id` AS `post_key`,
  AS_VALUE(`post_id`) AS `post_id`,
  LATEST_BY_OFFSET(`username`) AS `username`,
  LATEST_BY_OFFSET(`score`) AS `text_score`,
  LATEST_BY_OFFSET(`keywords`) AS `keywords`,
  LATEST_BY_OFFSET(`negativity`) AS `negativity`,
  LATEST_BY_OFFSET(`toxicity`) AS `toxicity`,
  LATEST_BY_OFFSET(`media_count`) AS `media_count`,
  LATEST_BY_OFFSET(`post`) AS `post`,
  LATEST_BY_OFFSET(`severity`) AS `severity`,
  LATEST_BY_OFFSET(`risk_categories`) AS `risk_categories`,
  LATEST_BY_OFFSET(`language`) AS `language`
FROM BM_3C55F12776806BFC_TEXT_SCORES
GROUP BY `post_id`
EMIT CHANGES;

CREATE TABLE IF NOT EXISTS BM_3C55F12776806BFC_SCORED_POSTS WITH (KAFKA_TOPIC='brandmon.brands.acme.scored-posts', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT
  t.`post_key` AS `post_key`,
  1 AS `schema_version`,
  t.`post_id` AS `post_id`,
  t.`username` AS `username`,
  t.`text_score` AS `text_score`,
  CAST(NULL AS DOUBLE) AS `image_score`,
  t.`text_score` AS `final_score`,
  COALESCE(t.`keywords`, ARRAY_REMOVE(ARRAY[''], '')) AS `keywords`,
  t.`negativity` AS `negativity`,
  t.`toxicity` AS `toxicity`,
  ARRAY_REMOVE(ARRAY[''], '') AS `categories`,
  t.`post` AS `post`,
  t.`severity` AS `severity`,
  t.`risk_categories` AS `risk_categories`,
  t.`language` AS `language`
FROM BM_3C55F12776806BFC_TEXT_RISK t
EMIT CHANGES;

CREATE STREAM IF NOT EXISTS BM_3C55F12776806BFC_SCORED_STREAM (
  `post_key` STRING KEY,
  `schema_version` BIGINT,
  `post_id` STRING,
  `username` STRING,
  `text_score` DOUBLE,
  `image_score` DOUBLE,
  `final_score` DOUBLE,
  `keywords` ARRAY<STRING>,
  `negativity` DOUBLE,
  `toxicity` DOUBLE,
  `categories` ARRAY<STRING>,
  `post` STRUCT<`platform` STRING, `url` STRING, `excerpt` STRING, `author_followers` BIGINT, `likes` BIGINT, `comments` BIGINT, `posted_at` STRING>,
  `severity` STRING,
  `risk_categories` ARRAY<STRUCT<`category` STRING, `label` STRING, `score` DOUBLE, `strong` BOOLEAN, `evidence` ARRAY<STRING>>>,
  `language` STRING
) WITH (KAFKA_TOPIC='brandmon.brands.acme.scored-posts', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');

CREATE STREAM IF NOT EXISTS BM_3C55F12776806BFC_ALERTS WITH (KAFKA_TOPIC='brandmon.brands.acme.alerts', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT
  `post_key`,
  `schema_version`,
  `post_id`,
  `username`,
  `text_score`,
  `image_score`,
  `final_score`,
  `keywords`,
  `negativity`,
  `toxicity`,
  `categories`,
  `post`,
  `severity`,
  `risk_categories`,
  `language`
FROM BM_3C55F12776806BFC_SCORED_STREAM
WHERE `final_score` >= 0.7
EMIT CHANGES;

CREATE TABLE IF NOT EXISTS BM_3C55F12776806BFC_ACCOUNT_RISK WITH (KAFKA_TOPIC='brandmon.brands.acme.ksql.account-risk', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT
  `username` AS `username_key`,
  AS_VALUE(`username`) AS `username`,
  COUNT(*) AS `scored_posts`,
  SUM(CASE WHEN `final_score` >= 0.7 THEN 1 ELSE 0 END) AS `alerting_posts`,
  MAX(`final_score`) AS `max_score`,
  LATEST_BY_OFFSET(`keywords`) AS `latest_keywords`,
  LATEST_BY_OFFSET(`categories`) AS `latest_categories`
FROM BM_3C55F12776806BFC_SCORED_STREAM
GROUP BY `username`
EMIT CHANGES;

CREATE TABLE IF NOT EXISTS BM_3C55F12776806BFC_FINAL_OUTPUT WITH (KAFKA_TOPIC='brandmon.brands.acme.ksql.final-output', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON') AS SELECT
  a.`username_key` AS `username_key`,
  a.`username` AS `username`,
  pr.`full_name` AS `full_name`,
  pr.`followers` AS `followers`,
  pr.`following` AS `following`,
  pr.`post_count` AS `post_count`,
  pr.`biography` AS `biography`,
  pr.`external_url` AS `external_url`,
  a.`scored_posts` AS `scored_posts`,
  a.`alerting_posts` AS `alerting_posts`,
  a.`max_score` AS `max_score`,
  a.`latest_keywords` AS `keyword_hits`,
  a.`latest_categories` AS `moderation_labels`
FROM BM_3C55F12776806BFC_ACCOUNT_RISK a
LEFT JOIN BM_3C55F12776806BFC_PROFILES pr ON a.`username_key` = pr.`username_key`
EMIT CHANGES;
