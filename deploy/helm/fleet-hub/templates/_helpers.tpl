{{- define "fleet-hub.fullname" -}}
{{ .Release.Name }}-fleet-hub
{{- end }}

{{- define "fleet-hub.selectorLabels" -}}
app.kubernetes.io/name: fleet-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fleet-hub.labels" -}}
app.kubernetes.io/name: fleet-hub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: fleet-hub-{{ .Chart.Version }}
{{- end }}

{{- define "fleet-hub.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{ .Values.secrets.existingSecret }}
{{- else -}}
{{ include "fleet-hub.fullname" . }}
{{- end -}}
{{- end }}

{{- define "fleet-hub.claimName" -}}
{{- if .Values.objectStorage.existingClaim -}}
{{ .Values.objectStorage.existingClaim }}
{{- else -}}
{{ include "fleet-hub.fullname" . }}-objects
{{- end -}}
{{- end }}
