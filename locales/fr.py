"""Français. Vouvoiement ; « conversation », « réponse », « serveur de modèle » ; token reste token (comme dans
les interfaces de modèles de langage francophones)."""

TEXT: dict[str, str] = {
    "chat_send": "Envoyer",
    "chat_stop": "Arrêter",
    "chat_retry": "↻ Régénérer",
    "chat_continue": "→ Continuer",
    "chat_new": "+ Nouvelle conversation",
    "chat_comment": "Commentaire",
    "chat_comment_placeholder": "Ajoutez un commentaire à votre évaluation (facultatif) — Entrée enregistre",
    "chat_placeholder_ready": (
        "**Posez votre question.** Chaque réponse est chronométrée : délai du premier token, tokens/s, tokens."
    ),
    "chat_placeholder_unconfigured": (
        "**Aucun serveur de modèle n'est configuré.** Lancez ChatLens avec `TGI_URL` pointant vers un serveur "
        "TGI, vLLM ou llama.cpp, par exemple `TGI_URL=http://127.0.0.1:8080 make run`."
    ),
    "chat_settings": "Paramètres",
    "chat_tab_model": "Modèle",
    "chat_tab_theme": "Thème",
    "composer_label": "Message",
    "composer_placeholder": "Écrire à ChatLens — Entrée envoie, Maj+Entrée ajoute une ligne",
    "page_chats": "Conversations",
    "page_settings": "Paramètres",
    "page_composer_short": "Écrire à ChatLens",
    "history_label": "Conversations",
    "history_search": "Rechercher dans les conversations",
    "history_search_placeholder": "Rechercher dans les titres et les messages",
    "history_title": "Titre de cette conversation",
    "history_rename": "Renommer",
    "history_delete": "Supprimer",
    "portability_label": "Exporter · importer · partager",
    "portability_export": "Exporter",
    "portability_import": "Importer un JSON",
    "portability_downloads": "Téléchargements",
    "portability_share": "Lien de partage",
    "portability_revoke": "Révoquer les liens",
    "portability_link": "Lien en lecture seule vers cette conversation dans son état actuel (affiché une seule fois)",
    "model_model": "Modèle",
    "model_system_prompt": "Prompt système",
    "model_preset": "Préréglage",
    "model_reset": "Réinitialiser",
    "model_temperature": "Température (0 = déterministe)",
    "model_top_p": "Top-p (1 = désactivé)",
    "model_max_tokens": "Nouveaux tokens max.",
    "model_frequency_penalty": "Pénalité de fréquence (0 = désactivée)",
    "model_seed": "Graine (vide = aléatoire)",
    "model_stop_sequences": "Séquences d'arrêt (une par ligne)",
    "model_thinking": "Réflexion (modèles qui peuvent l'activer ou la désactiver)",
    "model_reasoning_effort": "Effort de raisonnement (gpt-oss)",
    "model_save_as": "Enregistrer ces paramètres sous",
    "model_preset_name": "Nom du préréglage",
    "model_save": "Enregistrer",
    "theme_scheme": "Jeu de couleurs",
    "theme_accent": "Couleur d'accent",
    "theme_size": "Taille du texte",
    "theme_font": "Police",
    "theme_code": "Couleurs du code",
    "theme_density": "Densité",
    "theme_layout": "Messages",
    "theme_reset": "Réinitialiser l'apparence",
    "theme_shortcuts": (
        "**Clavier** — Entrée envoie · Maj+Entrée nouvelle ligne · Échap arrête une réponse · "
        "Ctrl+Maj+O (⌘⇧O) nouvelle conversation"
    ),
    "account_tab": "Compte",
    "account_token_name": "Nom d'un nouveau token",
    "account_create": "Créer un token",
    "account_new_token": "Votre nouveau token : copiez-le maintenant, il ne s'affiche qu'une fois",
    "account_tokens": "Vos tokens",
    "account_revoke": "Révoquer",
    "number_decimal": ",",
    "metrics_first_token": "{seconds} s avant le premier token",
    "metrics_answer": "{seconds} s avant la réponse",
    "metrics_rate": "{rate} tokens/s",
    "metrics_token": "{count} token",
    "metrics_tokens": "{count} tokens",
    "metrics_thinking": "{tokens} (dont {count} de réflexion)",
    "metrics_stopped": "arrêtée",
    "metrics_error": "erreur",
    "status_waiting": "En attente du premier token",
    "status_thinking": "Réflexion",
    "status_answering": "Réponse en cours",
    "status_generating": "Génération",
    "share_title": "Conversation partagée",
    "share_user": "Utilisateur",
    "share_assistant": "Assistant",
    "share_thinking": "Réflexion",
    "share_footer": "Instantané en lecture seule partagé depuis ChatLens le {when} UTC.",
    "error_error": "Un problème est survenu. Veuillez réessayer.",
    "error_not_configured": (
        "Aucun serveur de modèle n'est configuré. Indiquez dans TGI_URL l'adresse d'un serveur TGI, vLLM ou "
        "llama.cpp (par exemple TGI_URL=http://127.0.0.1:8080) et redémarrez ChatLens."
    ),
    "error_unreachable": "Le serveur de modèle est injoignable. Vérifiez qu'il fonctionne, puis réessayez.",
    "error_timeout": "Le serveur de modèle a mis trop de temps à répondre. Réessayez dans un instant.",
    "error_overloaded": "Le serveur de modèle est surchargé — réessayez dans quelques secondes.",
    "error_unavailable": (
        "Le serveur de modèle n'est pas prêt (chargement en cours ou défaillance). Réessayez dans une minute."
    ),
    "error_input_too_long": (
        "La conversation est trop longue pour ce modèle. Commencez une nouvelle conversation ou raccourcissez "
        "votre message."
    ),
    "error_validation": "Le serveur de modèle a refusé les paramètres de génération.",
    "error_generation": "Le serveur de modèle a échoué pendant l'écriture de la réponse. Réessayez.",
    "error_incomplete": "Le serveur de modèle a interrompu la réponse sans en donner la raison. Réessayez.",
    "error_reply_too_large": (
        "Le serveur de modèle a envoyé une réponse trop volumineuse ; elle a été tronquée et enregistrée "
        "jusqu'à ce point."
    ),
    "error_auth": "Le serveur de modèle a refusé les identifiants de ChatLens. Vérifiez TGI_API_KEY.",
    "error_rejected": (
        "Le message n'a pas pu être envoyé tel quel. Commencez une nouvelle conversation ou raccourcissez-le."
    ),
    "error_storage": (
        "ChatLens n'a pas pu enregistrer ce message, il n'a donc pas reçu de réponse ; veuillez réessayer."
    ),
    "error_storage_reply": (
        "ChatLens n'a pas pu enregistrer cette réponse : la base de données refuse les écritures. Elle s'affiche "
        "ici mais manquera quand vous rouvrirez la conversation — copiez-la maintenant si vous en avez besoin."
    ),
    "error_shutdown": "ChatLens redémarre. Votre message n'a pas été envoyé ; réessayez dans un instant.",
}
