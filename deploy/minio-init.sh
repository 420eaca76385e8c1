#!/bin/sh
# minio-init (docker-compose.yaml, image minio/mc): the backup bucket and the user Airflow writes with.
# Runs at every `docker compose up`; every step converges, so a second run changes nothing.
#
#   - bucket $BACKUP_BUCKET created with Object Lock (`mc mb --with-lock`, which turns versioning on;
#     Object Lock can only be enabled when a bucket is created), versioning enabled and checked; an
#     existing bucket without Object Lock is refused, not silently used
#   - no DEFAULT retention on the bucket, on purpose: Handover gives every backup object its own
#     retention date (connection handover_backup: lock_mode, retain_days) but not the data keys
#     (<prefix>keys/), which must stay deletable or a backup could never be shredded
#     (include/handover/backup/snapshot.py, S3Bucket)
#   - a lifecycle rule removes noncurrent versions after $BACKUP_NONCURRENT_DAYS days: a deleted data
#     key is really gone then (a locked version only once its retention date has passed)
#   - user $BACKUP_ACCESS_KEY with policy handover-backup: read, write, list and delete (a delete
#     marker) under the prefix, set retention on its own objects; no BypassGovernanceRetention, no
#     DeleteObjectVersion, no bucket configuration: Airflow's keys cannot undo the lock
set -eu
# POSIX sh, coreutils and mc only: do not count on grep, sed or awk in the minio/mc image (UBI micro).

say() { printf 'minio-init: %s\n' "$*"; }
die() { printf 'minio-init: %s\n' "$*" >&2; exit 1; }

for name in MINIO_ROOT_USER MINIO_ROOT_PASSWORD BACKUP_ACCESS_KEY BACKUP_SECRET_KEY BACKUP_BUCKET; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || die "$name is not set (see deploy/.env.example)"
    case "$value" in *change-me*) die "$name still has its change-me placeholder: write a real value into .env" ;; esac
done
[ "${#BACKUP_SECRET_KEY}" -ge 8 ] || die "BACKUP_SECRET_KEY must have at least 8 characters"

bucket="$BACKUP_BUCKET"
prefix="${BACKUP_PREFIX-handover/}"
days="${BACKUP_NONCURRENT_DAYS:-1}"
target="local/$bucket"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export MC_CONFIG_DIR="$work/mc"

mc alias set local "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null

say "bucket $bucket: Object Lock and versioning"
mc mb --ignore-existing --with-lock "$target"
mc version enable "$target"
versioning="$(mc version info "$target")"
case "$versioning" in *nabled*) ;; *) die "versioning is not enabled on $bucket: $versioning" ;; esac
mc retention info --default "$target" >/dev/null 2>&1 \
    || die "bucket $bucket exists without Object Lock (it can only be enabled at creation): use another BACKUP_BUCKET"
mc retention info --default "$target"

say "lifecycle: noncurrent versions under '$prefix' expire after $days day(s)"
cat >"$work/lifecycle.json" <<EOF
{"Rules": [{"ID": "handover-expire-noncurrent", "Status": "Enabled", "Filter": {"Prefix": "$prefix"},
            "NoncurrentVersionExpiration": {"NoncurrentDays": $days}}]}
EOF
mc ilm import "$target" <"$work/lifecycle.json"

say "user $BACKUP_ACCESS_KEY with policy handover-backup"
cat >"$work/policy.json" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
                "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"],
     "Resource": ["arn:aws:s3:::$bucket"]},
    {"Effect": "Allow",
     "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:PutObjectRetention",
                "s3:GetObjectRetention", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::$bucket/$prefix*"]}
  ]
}
EOF
mc admin policy create local handover-backup "$work/policy.json"
mc admin user add local "$BACKUP_ACCESS_KEY" "$BACKUP_SECRET_KEY" >/dev/null
if ! mc admin policy attach local handover-backup --user "$BACKUP_ACCESS_KEY" >/dev/null 2>&1; then
    # already attached (mc says "already in effect"), or a real failure: the user's policies tell
    user_info="$(mc admin user info local "$BACKUP_ACCESS_KEY")"
    case "$user_info" in *handover-backup*) ;; *) die "could not attach policy handover-backup to $BACKUP_ACCESS_KEY" ;; esac
fi
say "done"
