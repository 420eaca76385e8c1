-- One row per analytics customer: the branch, the region (province of the generalised address), the day
-- of the last activity seen on or before the as-of day, and the frequency and monetary value of the
-- transactions in the window before it. Only the analytics tier is read.
CREATE TEMP TABLE customer_base ON COMMIT DROP AS
WITH tx AS (
    SELECT t.branch_id, coalesce(t.customer_token, a.customer_token) AS customer_token,
           t.occurred_at::date AS day, t.amount
    FROM analytics.transactions t
    LEFT JOIN analytics.accounts a ON a.branch_id = t.branch_id AND a.account_token = t.account_token
    WHERE t.occurred_at::date <= %(as_of)s
), tx_by_customer AS (
    SELECT branch_id, customer_token, max(day) AS last_tx,
           count(*) FILTER (WHERE day > %(as_of)s::date - %(window_days)s) AS frequency,
           coalesce(sum(abs(amount)) FILTER (WHERE day > %(as_of)s::date - %(window_days)s), 0) AS monetary
    FROM tx WHERE customer_token IS NOT NULL GROUP BY 1, 2
), contact AS (
    SELECT branch_id, customer_token, max(occurred_at::date) AS last_contact
    FROM analytics.interactions WHERE occurred_at::date <= %(as_of)s GROUP BY 1, 2
)
SELECT c.branch_id, c.customer_token,
       coalesce(substring(c.address_general FROM '^(.+?(?:省|自治区|特别行政区|市))'), 'unknown') AS region,
       greatest(CASE WHEN c.last_activity <= %(as_of)s THEN c.last_activity END, t.last_tx, i.last_contact)
           AS last_seen,
       coalesce(t.frequency, 0) AS frequency, coalesce(t.monetary, 0) AS monetary
FROM analytics.customers c
LEFT JOIN tx_by_customer t ON t.branch_id = c.branch_id AND t.customer_token = c.customer_token
LEFT JOIN contact i ON i.branch_id = c.branch_id AND i.customer_token = c.customer_token;
