{{/*
What each service is made of, fixed by its code rather than by an installation: its probe, the
infrastructure it uses, the services it calls over gRPC, whether it publishes to realtime and
whether the Ingress reaches it. A service under services/ that is missing here fails the render.
*/}}
{{- define "lectern.wiring" -}}
gateway:
  probe: http
  public: true
  calls: [course, media, analytics, upload]
course:
  probe: grpc
  grpcService: lectern.course.v1.CourseService
  database: true
  kafka: true
media:
  probe: grpc
  grpcService: lectern.media.v1.MediaService
  database: true
  kafka: true
  s3: true
  calls: [course]
analytics:
  probe: grpc
  grpcService: lectern.analytics.v1.AnalyticsService
  database: true
  kafka: true
upload:
  probe: http
  public: true
  database: true
  kafka: true
  s3: true
  publishesRealtime: true
realtime:
  probe: http
  public: true
  kafka: true
{{- end -}}

{{/* The wiring of one service (ctx: root, name); fails on a service this chart does not know. */}}
{{- define "lectern.wiringOf" -}}
{{- $all := include "lectern.wiring" .root | fromYaml -}}
{{- if not (hasKey $all .name) -}}
{{- fail (printf "services.%s: this chart has no wiring for %q (add it to templates/_helpers.tpl)" .name .name) -}}
{{- end -}}
{{- get $all .name | toYaml -}}
{{- end -}}

{{- define "lectern.labels" -}}
app.kubernetes.io/part-of: lectern
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "lectern.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "lectern.fullname" -}}
{{ .root.Release.Name }}-{{ .name }}
{{- end -}}

{{- define "lectern.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}
{{ .Values.serviceAccount.name }}
{{- else -}}
{{ .Release.Name }}-lectern
{{- end -}}
{{- end -}}

{{- define "lectern.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag }}
{{- end -}}

{{/* wss:// for an https:// public URL, ws:// for http:// */}}
{{- define "lectern.websocketUrl" -}}
{{- $base := trimSuffix "/" .Values.publicUrl -}}
{{- if hasPrefix "https://" $base -}}
wss://{{ trimPrefix "https://" $base }}/ws
{{- else -}}
ws://{{ trimPrefix "http://" $base }}/ws
{{- end -}}
{{- end -}}

{{/*
The environment of one service (ctx: root, name, svc, wiring): LECTERN_<SERVICE>_* from values,
and each of the service's secrets by reference to its existing Secret. The Deployment and the
migration Job use the same list, so both pass the same settings validation at start.
*/}}
{{- define "lectern.env" -}}
{{- $p := printf "LECTERN_%s_" (upper .name) -}}
{{- $v := .root.Values -}}
{{- $w := .wiring -}}
{{- $release := .root.Release.Name -}}
- name: {{ $p }}ENVIRONMENT
  value: {{ $v.environment | quote }}
- name: {{ $p }}BIND_HOST
  value: "0.0.0.0"
- name: {{ $p }}LOG_JSON
  value: "true"
- name: {{ $p }}LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{- with .svc.ports.http }}
- name: {{ $p }}HTTP_PORT
  value: {{ . | quote }}
{{- end }}
{{- with .svc.ports.grpc }}
- name: {{ $p }}GRPC_PORT
  value: {{ . | quote }}
{{- end }}
{{- with .svc.ports.publish }}
- name: {{ $p }}PUBLISH_PORT
  value: {{ . | quote }}
{{- end }}
{{- if $w.database }}
- name: {{ $p }}MIGRATIONS_DIR
  value: /app/migrations
{{- end }}
{{- if $w.kafka }}
- name: {{ $p }}KAFKA_BOOTSTRAP
  value: {{ $v.infrastructure.kafkaBootstrap | quote }}
{{- end }}
{{- if $w.s3 }}
- name: {{ $p }}S3_ENDPOINT
  value: {{ $v.infrastructure.s3.endpoint | quote }}
- name: {{ $p }}S3_REGION
  value: {{ $v.infrastructure.s3.region | quote }}
- name: {{ $p }}S3_BUCKET
  value: {{ $v.infrastructure.s3.bucket | quote }}
{{- end }}
{{- range $peer := $w.calls | default list }}
{{- $peerSvc := get $v.services $peer }}
{{- if not $peerSvc }}
{{- fail (printf "services.%s calls %s over gRPC, and services.%s is missing" $.name $peer $peer) }}
{{- end }}
- name: {{ $p }}{{ upper $peer }}_GRPC_TARGET
  value: {{ printf "%s-%s:%v" $release $peer $peerSvc.ports.grpc | quote }}
{{- end }}
{{- if $w.publishesRealtime }}
- name: {{ $p }}REALTIME_PUBLISH_URL
  value: {{ printf "http://%s-realtime-publish:%v/v1/publish" $release $v.services.realtime.ports.publish | quote }}
{{- end }}
{{- if eq .name "gateway" }}
- name: {{ $p }}OIDC_ISSUER
  value: {{ $v.oidc.issuer | quote }}
- name: {{ $p }}OIDC_AUDIENCE
  value: {{ $v.oidc.audience | quote }}
- name: {{ $p }}OIDC_JWKS_URL
  value: {{ $v.oidc.jwksUrl | quote }}
- name: {{ $p }}REALTIME_PUBLIC_URL
  value: {{ include "lectern.websocketUrl" .root | quote }}
- name: {{ $p }}DEV_AUTH
  value: {{ $v.devAuth | quote }}
{{- end }}
{{- if eq .name "upload" }}
- name: {{ $p }}UPLOAD_PUBLIC_URL
  value: {{ printf "%s/files/" (trimSuffix "/" $v.publicUrl) | quote }}
{{- end }}
{{- if has .name (list "gateway" "upload") }}
- name: {{ $p }}CORS_ALLOWED_ORIGINS
  value: {{ $v.cors.allowedOrigins | toJson | quote }}
{{- end }}
{{- with $v.otel.endpoint }}
- name: {{ $p }}OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: lectern-{{ .name }}
{{- $secret := .svc.existingSecret }}
{{- range $suffix, $key := .svc.secretKeys }}
- name: {{ $p }}{{ $suffix }}
  valueFrom:
    secretKeyRef: {name: {{ $secret | quote }}, key: {{ $key | quote }}}
{{- end }}
{{- range $suffix, $value := .svc.env }}
- name: {{ $p }}{{ $suffix }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by Deployments and migration Jobs (ctx: root, serviceAccount;
an empty serviceAccount leaves the namespace's default). */}}
{{- define "lectern.podSpecCommon" -}}
{{- with .serviceAccount }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
{{- with .root }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}
