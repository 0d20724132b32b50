{{/* The release's full name: the release name, with "-brandmon" unless it has it already. */}}
{{- define "brandmon.fullname" -}}
{{- if contains "brandmon" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-brandmon" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The recommended labels of every object of the release. */}}
{{- define "brandmon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: brandmon
{{- end -}}

{{/* The operator Pod's selector: name, instance and component only (they never change). */}}
{{- define "brandmon.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "brandmon.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "brandmon.fullname" .) -}}
{{- end -}}

{{- define "brandmon.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The worker sizing as the operator reads it (OperatorSettings.worker_resources, JSON). */}}
{{- define "brandmon.workerResources" -}}
{{- $r := .Values.workers.resources -}}
{{- dict "cpuRequest" ($r.requests.cpu | toString) "memoryRequest" ($r.requests.memory | toString) "cpuLimit" ($r.limits.cpu | toString) "memoryLimit" ($r.limits.memory | toString) | toJson -}}
{{- end -}}

{{/* BRANDMON_OPERATOR_CAPS: every cap, a null one lifted. Helm drops a key a user sets to
     null, so each key is listed here (tests check the list against the operator's Caps). */}}
{{- define "brandmon.caps" -}}
{{- $caps := dict -}}
{{- range $key := list "maxPartitions" "maxReplicationFactor" "maxRetentionHours" "maxSources" "maxRunsPerHour" "maxImageCallsPerHour" "maxMonitorsPerNamespace" -}}
{{- $_ := set $caps $key (index $.Values.caps $key) -}}
{{- end -}}
{{- toJson $caps -}}
{{- end -}}
