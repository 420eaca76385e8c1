-- Each customer's recency, frequency and monetary scores (1 low … 3 high, against the thresholds of
-- handover.insights.Thresholds), their RFM code and named segment, and the activity class.
CREATE TEMP TABLE customer_segments ON COMMIT DROP AS
WITH scored AS (
    SELECT b.*, %(as_of)s::date - b.last_seen AS days_since,
           CASE WHEN b.last_seen IS NULL THEN 1
                WHEN %(as_of)s::date - b.last_seen <= %(recent_days)s THEN 3
                WHEN %(as_of)s::date - b.last_seen <= %(lapsed_days)s THEN 2 ELSE 1 END AS r,
           CASE WHEN b.frequency >= %(frequent)s THEN 3 WHEN b.frequency >= 1 THEN 2 ELSE 1 END AS f,
           CASE WHEN b.monetary >= %(high_value)s THEN 3 WHEN b.monetary >= %(mid_value)s THEN 2 ELSE 1 END AS m
    FROM customer_base b
)
SELECT branch_id, customer_token, region, r, f, m, format('R%%sF%%sM%%s', r, f, m) AS rfm,
       CASE WHEN r = 3 AND f = 3 THEN 'champions'
            WHEN r >= 2 AND f >= 2 THEN 'loyal'
            WHEN r = 3 THEN 'new_or_returning'
            WHEN r = 1 AND f >= 2 THEN 'at_risk'
            WHEN r = 1 THEN 'lost'
            ELSE 'needs_attention' END AS rfm_segment,
       CASE WHEN days_since IS NOT NULL AND days_since <= %(active_days)s THEN 'active'
            WHEN days_since IS NOT NULL AND days_since <= %(dormant_days)s THEN 'churn_risk'
            ELSE 'dormant' END AS activity
FROM scored;
