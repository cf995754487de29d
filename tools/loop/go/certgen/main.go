// Command kube-webhook-certgen is gosvc's stand-in for the image ghcr.io/jkroepke/kube-webhook-certgen that the
// kube-prometheus-stack chart's admission-webhook Jobs run. That image's Go module is not served by the Go module
// proxy, so the e2e tier cannot build it; this program, written for the tier, implements only what the chart's
// Jobs pass:
//
//	create --host=a,b --namespace=NS --secret-name=NAME
//	    a CA and a serving certificate for the hosts, written to Secret NAME in NS under the keys ca, cert and key;
//	    an existing Secret is left alone.
//	patch --webhook-name=NAME --namespace=NS --secret-name=NAME [--patch-failure-policy=Fail|Ignore]
//	    the Secret's CA set as caBundle of every webhook in the ValidatingWebhookConfiguration and the
//	    MutatingWebhookConfiguration named NAME, and their failurePolicy when one is given.
//
// It talks to the API server with the pod's service account (or --kubeconfig).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// version is set with -ldflags "-X main.version=..." to the tag of the image this program stands in for.
var version = "dev"

const validity = 10 * 365 * 24 * time.Hour

func usage() {
	fmt.Fprintf(os.Stderr, "kube-webhook-certgen %s (gosvc stand-in)\n\nusage:\n  kube-webhook-certgen create --host=NAMES --namespace=NS --secret-name=NAME\n  kube-webhook-certgen patch --webhook-name=NAME --namespace=NS --secret-name=NAME [--patch-failure-policy=Fail|Ignore]\n  kube-webhook-certgen version\n", version)
}

// common holds the flags both subcommands accept.
type common struct {
	kubeconfig, namespace, secretName, caName, certName, keyName, logLevel, logFormat string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster service account)")
	fs.StringVar(&c.namespace, "namespace", "", "namespace of the secret")
	fs.StringVar(&c.secretName, "secret-name", "", "name of the secret holding the certificates")
	fs.StringVar(&c.caName, "ca-name", "ca", "secret key of the CA certificate")
	fs.StringVar(&c.certName, "cert-name", "cert", "secret key of the serving certificate")
	fs.StringVar(&c.keyName, "key-name", "key", "secret key of the serving key")
	fs.StringVar(&c.logLevel, "log-level", "info", "accepted for compatibility")
	fs.StringVar(&c.logFormat, "log-format", "json", "accepted for compatibility")
}

func (c *common) require() error {
	if c.namespace == "" || c.secretName == "" {
		return errors.New("--namespace and --secret-name are required")
	}
	return nil
}

func (c *common) client() (kubernetes.Interface, error) {
	var config *rest.Config
	var err error
	if c.kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(config)
}

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "create":
		err = runCreate(os.Args[2:])
	case "patch":
		err = runPatch(os.Args[2:])
	case "version", "--version":
		fmt.Printf("kube-webhook-certgen %s (gosvc stand-in)\n", version)
	case "help", "-h", "--help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		slog.Error("failed", "command", os.Args[1], "error", err.Error())
		os.Exit(1)
	}
}

func runCreate(args []string) error {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	var c common
	c.register(fs)
	hosts := fs.String("host", "", "comma-separated host names the serving certificate is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.require(); err != nil {
		return err
	}
	names := splitHosts(*hosts)
	if len(names) == 0 {
		return errors.New("--host is required")
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	secrets := client.CoreV1().Secrets(c.namespace)
	if _, err := secrets.Get(ctx, c.secretName, metav1.GetOptions{}); err == nil {
		slog.Info("secret exists; left as it is", "namespace", c.namespace, "secret", c.secretName)
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	ca, cert, key, err := issue(names, time.Now())
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: c.secretName, Namespace: c.namespace},
		Data:       map[string][]byte{c.caName: ca, c.certName: cert, c.keyName: key},
	}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			slog.Info("secret created meanwhile; left as it is", "namespace", c.namespace, "secret", c.secretName)
			return nil
		}
		return err
	}
	slog.Info("secret created", "namespace", c.namespace, "secret", c.secretName, "hosts", names)
	return nil
}

func splitHosts(value string) []string {
	var names []string
	for _, name := range strings.Split(value, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// issue makes a self-signed CA and a serving certificate it signs for names; all three PEM-encoded.
func issue(names []string, now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kube-webhook-certgen CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, name := range names {
		if ip := net.ParseIP(name); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pemBlock("CERTIFICATE", caDER), pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", keyDER), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func runPatch(args []string) error {
	fs := flag.NewFlagSet("patch", flag.ExitOnError)
	var c common
	c.register(fs)
	webhook := fs.String("webhook-name", "", "name of the Validating/MutatingWebhookConfiguration to patch")
	validating := fs.Bool("patch-validating", true, "patch the ValidatingWebhookConfiguration")
	mutating := fs.Bool("patch-mutating", true, "patch the MutatingWebhookConfiguration")
	policy := fs.String("patch-failure-policy", "", "failurePolicy to set (Fail or Ignore); empty leaves it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.require(); err != nil {
		return err
	}
	if *webhook == "" {
		return errors.New("--webhook-name is required")
	}
	var failurePolicy *admissionv1.FailurePolicyType
	switch *policy {
	case "":
	case string(admissionv1.Fail), string(admissionv1.Ignore):
		p := admissionv1.FailurePolicyType(*policy)
		failurePolicy = &p
	default:
		return fmt.Errorf("--patch-failure-policy must be Fail or Ignore, not %q", *policy)
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	secret, err := client.CoreV1().Secrets(c.namespace).Get(ctx, c.secretName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ca := secret.Data[c.caName]
	if len(ca) == 0 {
		return fmt.Errorf("secret %s/%s has no %q", c.namespace, c.secretName, c.caName)
	}
	set := func(client *admissionv1.WebhookClientConfig, policy **admissionv1.FailurePolicyType) {
		client.CABundle = bytes.Clone(ca)
		if failurePolicy != nil {
			*policy = failurePolicy
		}
	}
	patched := 0
	if *validating {
		api := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
		err := update(ctx, *webhook, api.Get, api.Update, func(config *admissionv1.ValidatingWebhookConfiguration) {
			for i := range config.Webhooks {
				set(&config.Webhooks[i].ClientConfig, &config.Webhooks[i].FailurePolicy)
			}
		})
		if err := counted(err, "ValidatingWebhookConfiguration", *webhook, &patched); err != nil {
			return err
		}
	}
	if *mutating {
		api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
		err := update(ctx, *webhook, api.Get, api.Update, func(config *admissionv1.MutatingWebhookConfiguration) {
			for i := range config.Webhooks {
				set(&config.Webhooks[i].ClientConfig, &config.Webhooks[i].FailurePolicy)
			}
		})
		if err := counted(err, "MutatingWebhookConfiguration", *webhook, &patched); err != nil {
			return err
		}
	}
	if patched == 0 {
		return fmt.Errorf("no webhook configuration named %q to patch", *webhook)
	}
	return nil
}

// counted logs the outcome of patching one configuration: a missing one is skipped, any other error returned.
// update reads the object `name`, changes it and writes it back, again from the read when another writer came first.
func update[T any](ctx context.Context, name string, get func(context.Context, string, metav1.GetOptions) (*T, error), put func(context.Context, *T, metav1.UpdateOptions) (*T, error), change func(*T)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		object, err := get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(object)
		_, err = put(ctx, object, metav1.UpdateOptions{})
		return err
	})
}

func counted(err error, kind, name string, patched *int) error {
	switch {
	case err == nil:
		*patched++
		slog.Info("patched", "kind", kind, "name", name)
		return nil
	case apierrors.IsNotFound(err):
		slog.Info("not found; skipped", "kind", kind, "name", name)
		return nil
	default:
		return fmt.Errorf("patch %s %s: %w", kind, name, err)
	}
}
