{{- define "lectern.labels" -}}
app.kubernetes.io/part-of: lectern
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "lectern.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "lectern.fullname" -}}
{{ .root.Release.Name }}-{{ .name }}
{{- end -}}

{{/* The environment every service reads (LECTERN_<SVC>_*), from values and the Secret. */}}
{{- define "lectern.env" -}}
{{- $prefix := printf "LECTERN_%s_" (upper .name) -}}
{{- $v := .root.Values -}}
{{- $secret := $v.infrastructure.existingSecret -}}
- name: {{ $prefix }}BIND_HOST
  value: "0.0.0.0"
- name: {{ $prefix }}LOG_JSON
  value: "true"
{{- with .svc.grpcPort }}
- name: {{ $prefix }}GRPC_PORT
  value: {{ . | quote }}
{{- end }}
{{- with .svc.httpPort }}
- name: {{ $prefix }}HTTP_PORT
  value: {{ . | quote }}
{{- end }}
{{- with .svc.database }}
- name: {{ $prefix }}DATABASE_URL
  value: {{ printf "%s/%s" $v.infrastructure.postgresUrlPrefix . | quote }}
{{- end }}
- name: {{ $prefix }}MIGRATIONS_DIR
  value: /app/migrations
- name: {{ $prefix }}REDIS_URL
  value: {{ $v.infrastructure.redisUrl | quote }}
- name: {{ $prefix }}KAFKA_BOOTSTRAP
  value: {{ $v.infrastructure.kafkaBootstrap | quote }}
- name: {{ $prefix }}S3_ENDPOINT
  value: {{ $v.infrastructure.s3Endpoint | quote }}
- name: {{ $prefix }}S3_REGION
  value: {{ $v.infrastructure.s3Region | quote }}
- name: {{ $prefix }}S3_BUCKET
  value: {{ $v.infrastructure.s3Bucket | quote }}
{{- range $field, $key := dict "S3_ACCESS_KEY" "s3-access-key" "S3_SECRET_KEY" "s3-secret-key" "INTERNAL_TOKEN_SECRET" "internal-token-secret" "REALTIME_PUBLISH_TOKEN" "realtime-publish-token" "REALTIME_TOKEN_SECRET" "realtime-token-secret" }}
- name: {{ $prefix }}{{ $field }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $key }}}
{{- end }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: database-password, optional: true}
{{- range $other, $osvc := $v.services }}
{{- if $osvc.grpcPort }}
- name: {{ $prefix }}{{ upper $other }}_GRPC_TARGET
  value: {{ printf "%s-%s:%v" $.root.Release.Name $other $osvc.grpcPort | quote }}
{{- end }}
{{- end }}
{{- with $v.services.realtime }}
- name: {{ $prefix }}REALTIME_PUBLISH_URL
  value: {{ printf "http://%s-realtime:%v/v1/publish" $.root.Release.Name .httpPort | quote }}
{{- end }}
- name: {{ $prefix }}REALTIME_PUBLIC_URL
  value: {{ $v.publicUrls.realtime | quote }}
- name: {{ $prefix }}UPLOAD_PUBLIC_URL
  value: {{ $v.publicUrls.upload | quote }}
{{- with $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: lectern-{{ .name }}
{{- range $k, $val := .svc.env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end -}}
