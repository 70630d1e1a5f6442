{{/* Name of the release's objects. */}}
{{- define "spe.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "spe.labels" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one component's pods ("api" or "controller"). Project workspaces reach
     the control plane's API pods by app.kubernetes.io/name=spe and component=api. */}}
{{- define "spe.selector" -}}
app.kubernetes.io/name: spe
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: repository@digest when a digest is
     given, else repository:tag (tag defaulting to the chart's appVersion).
     Call with (dict "image" .Values.x "root" .). */}}
{{- define "spe.imageRef" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "spe.image" -}}
{{ include "spe.imageRef" (dict "image" .Values.image "root" .) }}
{{- end -}}

{{/* Refuse to render a production release that still points at the documentation's
     example hosts (values.yaml ships them so that every key is shown): a platform for
     health data must not send logins, data or workspaces to someone else's domain. */}}
{{- define "spe.refuseExamples" -}}
{{- $hosts := dict
    "settings.publicUrl" (urlParse .Values.settings.publicUrl).host
    "oidc.issuer" (urlParse .Values.oidc.issuer).host
    "storage.endpoint" (regexReplaceAll ":[0-9]+$" .Values.storage.endpoint "")
    "workspaces.ingressDomain" .Values.workspaces.ingressDomain -}}
{{- range $value, $host := $hosts }}
{{- $h := lower (regexReplaceAll ":[0-9]+$" $host "") }}
{{- if regexMatch "(^|\\.)(example\\.(org|com|net)|example|invalid|localhost)$" $h }}
{{- fail (printf "%s names the example host %q: set the real one (docs/production.md)" $value $h) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Environment shared by every container: settings from the ConfigMap are added with
     envFrom; secrets come by reference here. Each name is a field of spe.settings.Settings
     or spe.auth.oidc.config.OidcConfig (tests/helm checks it). */}}
{{- define "spe.env" -}}
- name: SPE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.database.name }}, key: {{ .Values.secrets.database.key }}}}
- name: SPE_OIDC_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.oidc.name }}, key: {{ .Values.secrets.oidc.key }}}}
- name: SPE_STORAGE_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.accessKey }}}}
- name: SPE_STORAGE_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.storage.name }}, key: {{ .Values.secrets.storage.secretKey }}}}
{{- end -}}

{{/* Where the shared state is mounted (the ConfigMap points the settings there). */}}
{{- define "spe.keysDir" -}}/var/run/spe/keys{{- end -}}
{{- define "spe.dataKeysDir" -}}/var/lib/spe/data-keys{{- end -}}

{{/* Pod-level settings shared by both Deployments. */}}
{{- define "spe.podCommon" -}}
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: data
    emptyDir: {}
  - name: keys
    secret:
      secretName: {{ .Values.secrets.keys.name }}
      defaultMode: 0440  # group: fsGroup, the processes
  - name: data-keys
    persistentVolumeClaim:
      claimName: {{ .Values.dataKeys.existingClaim }}
  {{- if eq .Values.keyStore.type "pkcs11" }}
  - name: hsm-pin
    secret:
      secretName: {{ .Values.keyStore.pkcs11.pinSecret.name }}
      items: [{key: {{ .Values.keyStore.pkcs11.pinSecret.key }}, path: pin}]
      defaultMode: 0440
  {{- end }}
  {{- if .Values.permits.trustedIssuers }}
  - name: permit-issuers
    configMap:
      name: {{ include "spe.fullname" . }}-permit-issuers
  {{- end }}
{{- end -}}

{{- define "spe.mounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: /var/lib/spe}
- {name: keys, mountPath: {{ include "spe.keysDir" . }}, readOnly: true}
- {name: data-keys, mountPath: {{ include "spe.dataKeysDir" . }}}
{{- if eq .Values.keyStore.type "pkcs11" }}
- {name: hsm-pin, mountPath: {{ include "spe.hsmPinDir" . }}, readOnly: true}
{{- end }}
{{- if .Values.permits.trustedIssuers }}
- {name: permit-issuers, mountPath: {{ include "spe.permitIssuersDir" . }}, readOnly: true}
{{- end }}
{{- end -}}

{{/* Where the HSM's user PIN is mounted (keyStore.type pkcs11). */}}
{{- define "spe.hsmPinDir" -}}
/var/run/spe/hsm
{{- end -}}

{{/* Where the trusted permit issuers file is mounted. */}}
{{- define "spe.permitIssuersDir" -}}
/etc/spe/permit-issuers
{{- end -}}

{{/* On a live install (the cluster answers lookups; `helm template` has none), refuse to
     go on when a referenced Secret or one of its keys is missing: the pods would crash-loop
     instead, after the migration Job already ran. */}}
{{- define "spe.requireSecrets" -}}
{{- if lookup "v1" "Namespace" "" .Release.Namespace }}
{{- $s := .Values.secrets }}
{{- $needed := list
    (list $s.database.name $s.database.key) (list $s.databaseAdmin.name $s.databaseAdmin.key)
    (list $s.oidc.name $s.oidc.key) (list $s.storage.name $s.storage.accessKey)
    (list $s.storage.name $s.storage.secretKey) (list $s.keys.name "") }}
{{- if eq .Values.keyStore.type "pkcs11" }}
{{- $needed = append $needed (list .Values.keyStore.pkcs11.pinSecret.name .Values.keyStore.pkcs11.pinSecret.key) }}
{{- end }}
{{- range $needed }}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace (index . 0) }}
{{- if not $secret }}
{{- fail (printf "Secret %s/%s is missing: create it before installing (docs/production.md)" $.Release.Namespace (index . 0)) }}
{{- end }}
{{- if and (index . 1) (not (hasKey ($secret.data | default dict) (index . 1))) }}
{{- fail (printf "Secret %s/%s has no key %q" $.Release.Namespace (index . 0) (index . 1)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Names of the controller's two ClusterRoles: cluster-wide rights, and its rights inside
     a project namespace (bound there by the controller itself, never cluster-wide). */}}
{{- define "spe.controllerRole" -}}{{ include "spe.fullname" . }}-controller{{- end -}}
{{- define "spe.controllerProjectRole" -}}{{ include "spe.fullname" . }}-controller-project{{- end -}}
