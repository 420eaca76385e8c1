-- The published cells: customers per (branch, region, dimension, segment), for each region and for the
-- whole branch (region 'all'). Small cells are suppressed afterwards (handover.insights.suppression).
WITH per_customer AS (
    SELECT branch_id, region, customer_token, 'customers' AS dimension, 'all' AS segment FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'activity', activity FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'rfm_segment', rfm_segment FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'rfm', rfm FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'recency', 'R' || r FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'frequency', 'F' || f FROM customer_segments
    UNION ALL SELECT branch_id, region, customer_token, 'monetary', 'M' || m FROM customer_segments
    UNION ALL SELECT s.branch_id, s.region, s.customer_token, 'product', h.product
              FROM customer_segments s JOIN customer_holdings h USING (branch_id, customer_token)
    UNION ALL SELECT s.branch_id, s.region, s.customer_token, 'channel', c.channel
              FROM customer_segments s JOIN customer_channels c USING (branch_id, customer_token)
)
SELECT branch_id, coalesce(region, 'all') AS region, dimension, segment, count(DISTINCT customer_token) AS customers
FROM per_customer
GROUP BY GROUPING SETS ((branch_id, region, dimension, segment), (branch_id, dimension, segment))
ORDER BY 1, 2, 3, 4;
