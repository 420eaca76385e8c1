-- Channel use: each customer once per channel used in the window (transactions and contacts).
CREATE TEMP TABLE customer_channels ON COMMIT DROP AS
SELECT DISTINCT t.branch_id, coalesce(t.customer_token, a.customer_token) AS customer_token,
       coalesce(t.channel, 'unknown') AS channel
FROM analytics.transactions t
LEFT JOIN analytics.accounts a ON a.branch_id = t.branch_id AND a.account_token = t.account_token
WHERE t.occurred_at::date <= %(as_of)s AND t.occurred_at::date > %(as_of)s::date - %(window_days)s
  AND coalesce(t.customer_token, a.customer_token) IS NOT NULL
UNION
SELECT DISTINCT i.branch_id, i.customer_token, coalesce(i.channel, 'unknown')
FROM analytics.interactions i
WHERE i.occurred_at::date <= %(as_of)s AND i.occurred_at::date > %(as_of)s::date - %(window_days)s;
