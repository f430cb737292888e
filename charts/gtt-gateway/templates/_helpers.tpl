{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and labels.
*/}}
{{- define "gtt-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, unless it already contains the chart name.
*/}}
{{- define "gtt-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gtt-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "gtt-gateway.labels" -}}
helm.sh/chart: {{ include "gtt-gateway.chart" . }}
{{ include "gtt-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ include "gtt-gateway.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gtt-gateway
{{- end }}

{{/*
Selector labels (never change them after the first install: Deployment selectors are immutable).
*/}}
{{- define "gtt-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gtt-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the `helm test` pod: like the common labels, but another name, so that the
Deployment's selector (name + instance) never matches it.
*/}}
{{- define "gtt-gateway.testLabels" -}}
helm.sh/chart: {{ include "gtt-gateway.chart" . }}
app.kubernetes.io/name: {{ include "gtt-gateway.name" . | trunc 58 | trimSuffix "-" }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gtt-gateway
{{- end }}

{{- define "gtt-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gtt-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gtt-gateway.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "gtt-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "gtt-gateway.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Where the rendered config lives in the container.
*/}}
{{- define "gtt-gateway.configDir" -}}/etc/gtt-gateway{{- end }}
{{- define "gtt-gateway.configPath" -}}{{ include "gtt-gateway.configDir" . }}/gateway.toml{{- end }}

{{/*
Every secret is a file in this directory (one projected, read-only volume), named by the
config's *_file keys; `gtt-gateway.secretFile` gives the path of one.
*/}}
{{- define "gtt-gateway.secretsDir" -}}/var/run/secrets/gtt-gateway{{- end }}
{{- define "gtt-gateway.secretFile" -}}
{{- printf "%s/%s" "/var/run/secrets/gtt-gateway" . | include "gtt-gateway.tomlString" }}
{{- end }}

{{/*
The files of the secrets Secret (the chart's or existingSecret) as volume items, as YAML: only
those that exist there (the callback secret always).
*/}}
{{- define "gtt-gateway.appSecretItems" -}}
{{- $s := .Values.secrets }}
{{- $e := $s.existingSecret }}
- key: {{ ternary $e.callbackSecretKey "callback-secret" (not (empty $e.name)) }}
  path: callback-secret
{{- with (ternary $e.gttClientSecretKey (ternary "gtt-client-secret" "" (not (empty $s.gttClientSecret))) (not (empty $e.name))) }}
- key: {{ . }}
  path: gtt-client-secret
{{- end }}
{{- with (ternary $e.previousCallbackSecretsKey (ternary "previous-callback-secrets" "" (not (empty $s.previousCallbackSecrets))) (not (empty $e.name))) }}
- key: {{ . }}
  path: previous-callback-secrets
{{- end }}
{{- with (ternary $e.signatureSecretsKey (ternary "signature-secrets" "" (not (empty $s.signatureSecrets))) (not (empty $e.name))) }}
- key: {{ . }}
  path: signature-secrets
{{- end }}
{{- end }}

{{/*
Whether the secrets Secret holds the file named `.name` (a context dict with `root`).
*/}}
{{- define "gtt-gateway.hasAppSecret" -}}
{{- $items := include "gtt-gateway.appSecretItems" .root | fromYamlArray }}
{{- range $items }}{{ if eq .path $.name }}true{{ end }}{{ end }}
{{- end }}

{{/*
The file name of the NATS secret of natsAuth.method.
*/}}
{{- define "gtt-gateway.natsAuthFile" -}}
{{- printf "nats-%s" .Values.natsAuth.method }}
{{- end }}

{{/*
The container port: the port of config.server.listen ("0.0.0.0:8080", "[::]:8080").
*/}}
{{- define "gtt-gateway.port" -}}
{{- $listen := toString .Values.config.server.listen }}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:.]+\\]|[0-9.]+):[0-9]+$" $listen) }}
{{- fail (printf "config.server.listen must be an IP:PORT socket address such as \"0.0.0.0:8080\", got %q" $listen) }}
{{- end }}
{{- regexReplaceAll "^.*:([0-9]+)$" $listen "${1}" }}
{{- end }}

{{/*
Name of the Secret holding the secrets (created by the chart, or existingSecret.name).
*/}}
{{- define "gtt-gateway.secretName" -}}
{{- if .Values.secrets.existingSecret.name }}
{{- .Values.secrets.existingSecret.name }}
{{- else }}
{{- include "gtt-gateway.fullname" . }}
{{- end }}
{{- end }}

{{/*
Seconds of a humantime duration ("20s", "1m30s", "1h 5m", "500ms"), rounded up per component.
*/}}
{{- define "gtt-gateway.durationSeconds" -}}
{{- $text := toString . }}
{{- if not (regexMatch "^\\s*([0-9]+\\s*(ms|s|m|h|d|w)\\s*)+$" $text) }}
{{- fail (printf "%q is not a duration this chart understands (e.g. 500ms, 20s, 5m, 1h, 7d)" $text) }}
{{- end }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+\\s*(ms|s|m|h|d|w)" $text -1 }}
{{- $n := regexFind "^[0-9]+" . | atoi }}
{{- $unit := regexFind "(ms|s|m|h|d|w)$" . }}
{{- $seconds := dict "ms" (div (add $n 999) 1000) "s" $n "m" (mul $n 60) "h" (mul $n 3600) "d" (mul $n 86400) "w" (mul $n 604800) }}
{{- $total = add $total (get $seconds $unit) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
A TOML basic string (JSON string escapes are valid TOML escapes).
*/}}
{{- define "gtt-gateway.tomlString" -}}
{{- toString . | toJson }}
{{- end }}

{{/*
A GTT namespace name as text: unquoted YAML numbers (namespaces: [142033]) arrive as numbers.
*/}}
{{- define "gtt-gateway.namespaceName" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ . | int64 }}{{ end }}
{{- end }}

{{/*
A TOML inline table for one signature settings map (never with secrets: the schema forbids them).
*/}}
{{- define "gtt-gateway.signatureInline" -}}
{{- $parts := list }}
{{- range $key := list "scheme" "header" "encoding" "prefix" "tolerance" }}
{{- $value := index $ $key }}
{{- if $value }}
{{- $parts = append $parts (printf "%s = %s" $key (include "gtt-gateway.tomlString" $value)) }}
{{- end }}
{{- end }}
{{- printf "{ %s }" (join ", " $parts) }}
{{- end }}

{{/*
Checks that span several values; included by the Deployment so every render runs them.
*/}}
{{- define "gtt-gateway.validate" -}}
{{- $grace := include "gtt-gateway.durationSeconds" .Values.config.server.shutdownGrace | int }}
{{- $preStop := .Values.lifecycle.preStopSleepSeconds | int }}
{{- $termination := .Values.terminationGracePeriodSeconds | int }}
{{- if le $termination (add $grace $preStop) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than config.server.shutdownGrace (%s = %ds) plus lifecycle.preStopSleepSeconds (%d), or Kubernetes kills the gateway before it has drained" $termination .Values.config.server.shutdownGrace $grace $preStop) }}
{{- end }}
{{- if and .Values.secrets.existingSecret.name (or .Values.secrets.callbackSecret .Values.secrets.gttClientSecret .Values.secrets.previousCallbackSecrets .Values.secrets.signatureSecrets) }}
{{- fail "secrets.existingSecret.name is set: leave secrets.callbackSecret, gttClientSecret, previousCallbackSecrets and signatureSecrets empty (their values would be ignored)" }}
{{- end }}
{{- $auth := .Values.natsAuth }}
{{- if and (ne $auth.method "none") (or (not $auth.secretName) (not $auth.key)) }}
{{- fail (printf "natsAuth.method is %q: name the Secret and the key holding it (natsAuth.secretName, natsAuth.key)" $auth.method) }}
{{- end }}
{{- if and (eq $auth.method "password") (not $auth.user) }}
{{- fail "natsAuth.method is \"password\": natsAuth.user is required" }}
{{- end }}
{{- if and (ne $auth.method "none") .Values.natsCredentials.secretName }}
{{- fail "natsAuth.method and natsCredentials.secretName are both set: NATS takes one authentication method" }}
{{- end }}
{{- $tls := .Values.natsTls }}
{{- if and $tls.secretName (ne (empty $tls.certKey) (empty $tls.keyKey)) }}
{{- fail "natsTls.certKey and natsTls.keyKey go together: set both, or neither" }}
{{- end }}
{{- if and .Values.secrets.existingSecret.name (not .Values.secrets.existingSecret.callbackSecretKey) }}
{{- fail "secrets.existingSecret.callbackSecretKey is required: the gateway cannot start without callbacks.secret" }}
{{- end }}
{{- $scheme := .Values.config.callbacks.signature.scheme }}
{{- if and (ne $scheme "none") (not .Values.secrets.signatureSecrets) (not .Values.secrets.existingSecret.signatureSecretsKey) }}
{{- fail (printf "config.callbacks.signature.scheme is %q: provide its keys in secrets.signatureSecrets (or secrets.existingSecret.signatureSecretsKey)" $scheme) }}
{{- end }}
{{- $_ := include "gtt-gateway.port" . }}
{{- end }}
